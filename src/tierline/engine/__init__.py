"""tierline.engine"""
