# attack: break the driver's request reader: the next request must fail visibly, never pass unrun
# expect: ok
# state: lost
# next: 3 * 3 => 9
import sys
frame = sys._getframe()
while frame is not None and "_loads" not in frame.f_globals:
    frame = frame.f_back
frame.f_globals["_loads"] = None
