"""tierline.expr"""
