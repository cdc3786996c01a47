# attack: grow a list until memory runs out
# expect: error MemoryError /memory limit exceeded.*kept/
# magic: memory 64M
a = []
while True:
    a.append(bytearray(1024 * 1024))
