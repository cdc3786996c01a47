# attack: unbounded recursion
# expect: error RecursionError /recursion/
def f():
    return f()
f()
