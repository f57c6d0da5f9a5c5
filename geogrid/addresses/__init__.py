"""The standard address registry (标准地址库): normalisation and matching of Chinese addresses."""
