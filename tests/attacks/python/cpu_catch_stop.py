# attack: catch the time limit and keep looping
# expect: error TimeLimitExceeded /time limit exceeded/
# state: lost
# magic: timeout 1
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
