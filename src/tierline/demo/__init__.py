"""tierline.demo"""
