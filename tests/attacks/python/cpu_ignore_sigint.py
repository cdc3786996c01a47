# attack: ignore the stop signal, then loop
# expect: error TimeLimitExceeded /time limit exceeded/
# state: lost
# magic: timeout 1
import signal
for s in (signal.SIGINT, signal.SIGALRM, signal.SIGUSR1):
    signal.signal(s, signal.SIG_IGN)
while True:
    pass
