# attack: one writev of 1024 buffers naming the same 16 MB (the host must not copy 16 GB for it)
# expect: error OutputLimitExceeded /output limit exceeded/
# magic: output 64K
import os
m = memoryview(bytearray(16 * 1024 * 1024))
os.writev(1, [m] * 1024)
