# attack: an endless loop in the result's __repr__
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
class R:
    def __repr__(self):
        while True:
            pass
R()
