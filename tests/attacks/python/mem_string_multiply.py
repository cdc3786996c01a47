# attack: a huge string by repetition
# expect: error MemoryError /memory limit exceeded/
# magic: memory 64M
s = 'x' * (2 ** 30)
