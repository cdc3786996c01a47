-- attack: HTML outputs whose scripts, handlers, frames and inline SVG would run in a live JupyterLab page (token theft, /api/contents writes)
-- expect: ok
display.html("<script>fetch('/api/contents/pwned.txt',{method:'PUT'})</script><table border='1'><tr><td>kept</td></tr></table>")
display.html("<img src=x onerror=alert(1)><IMG SRC=y OnErRoR=alert(2)><body onload=alert(3)>")
display.html("<iframe srcdoc='<script>parent.alert(1)</script>'></iframe><object data=x></object><embed src=x>")
display.html("<svg><script>alert(1)</script><animate onbegin=alert(1) attributeName=x /></svg>")
display.html("<form action='/api/contents/x' method=post><button>go</button></form><base href='//evil/'><meta http-equiv=refresh content='0;url=javascript:alert(1)'>")
display.html("<style>@import url(//evil/x.css); body{background:url(//evil/)}</style><div style='background:url(javascript:alert(1))'>x</div>")
return setmetatable({}, {__html = function() return "<a href='javascript:alert(1)'>link</a><script>alert(1)</script>" end})
