"""tierline.compile"""
