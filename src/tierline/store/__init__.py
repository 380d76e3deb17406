"""tierline.store"""
