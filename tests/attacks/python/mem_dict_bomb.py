# attack: grow a dict until memory runs out
# expect: error MemoryError /memory limit exceeded/
# magic: memory 64M
d = {}
i = 0
while True:
    d[i] = str(i) * 10
    i += 1
