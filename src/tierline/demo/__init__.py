"""The demo book: a deterministic, vectorised generator of a realistic SaaS book of business.

``tierline.demo.generator.generate_book(accounts, seed, as_of)`` returns a
:class:`tierline.demo.book.Book` (one Arrow table per import kind).
"""
