# attack: swallow every stop in a function the cell keeps calling: the kernel ends the worker
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
# state: lost
def spin():
    try:
        while True:
            pass
    except BaseException:
        return
for _ in range(1000):
    spin()
while True:
    pass
