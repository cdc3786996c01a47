# attack: repr of a deeply nested list
# expect: ok
a = []
for _ in range(100000):
    a = [a]
try:
    repr(a)
except RecursionError:
    pass
