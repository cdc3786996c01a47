# attack: connect to the host's listener
# expect: error OSError /Not supported|not supported/
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(('127.0.0.1', @PORT@))
