# attack: create a socket
# expect: error OSError /Not supported|not supported/
import socket
socket.socket()
