# attack: start a thread
# expect: error RuntimeError /can't start new thread/
import threading
threading.Thread(target=print).start()
