# attack: an endless loop in __del__
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
class A:
    def __del__(self):
        while True:
            pass
a = A()
del a
