# attack: reach the driver's globals through the cell's calling frame and break its reply function
# expect: error WorkerCrashed /stopped unexpectedly/
# state: lost
import sys
frame = sys._getframe()
while frame is not None and "_send" not in frame.f_globals:
    frame = frame.f_back
frame.f_globals["_send"] = None
