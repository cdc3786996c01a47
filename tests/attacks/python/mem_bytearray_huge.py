# attack: one huge allocation
# expect: error MemoryError /memory limit exceeded/
# magic: memory 64M
bytearray(2 ** 31 - 1)
