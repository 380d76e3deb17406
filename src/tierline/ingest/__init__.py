"""tierline.ingest"""
