# attack: fetch a URL
# expect: error URLError /this sandbox has no network/
import urllib.request
urllib.request.urlopen('http://127.0.0.1:@PORT@/', timeout=1)
