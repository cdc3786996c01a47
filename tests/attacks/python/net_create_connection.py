# attack: open a TCP connection by name (socket.create_connection resolves it first)
# expect: error PermissionError /no network/
import socket
socket.create_connection(('example.com', 80), timeout=1)
