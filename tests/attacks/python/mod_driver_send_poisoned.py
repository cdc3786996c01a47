# attack: find the driver's globals through gc and break its reply function
# expect: error WorkerCrashed /stopped unexpectedly/
# state: lost
import gc
# the zygote froze everything it imported out of the collector (copy on write): thaw it first
gc.unfreeze()
driver = [o for o in gc.get_objects() if type(o) is dict and "_send" in o and "_receive" in o]
driver[0]["_send"] = None
