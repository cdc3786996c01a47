# attack: speak HTTP to the listener
# expect: error PermissionError /this sandbox has no network/
import http.client
c = http.client.HTTPConnection('127.0.0.1', @PORT@, timeout=1)
c.request('GET', '/')
