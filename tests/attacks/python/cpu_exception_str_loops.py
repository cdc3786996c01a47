# attack: an exception whose __str__ never returns (the driver formats it after the cell)
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
class E(Exception):
    def __str__(self):
        while True:
            pass
raise E()
