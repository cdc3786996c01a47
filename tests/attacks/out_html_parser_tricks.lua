-- attack: HTML that a naive checker and the browser read differently (entities, comments, broken tags, mutation XSS)
-- expect: ok
display.html('<a href="jav&#x61;script:alert(1)">a</a><a href="&#106;avascript&colon;alert(1)">b</a><a href=" JAVASCRIPT:alert(1)">c</a>')
display.html("<!--<script>-->x<!-- --!><script>alert(1)</script> -->")
display.html("<b <script>alert(1)</script><<script>script>alert(2)<</script>/script>")
display.html('<noscript><p title="</noscript><img src=x onerror=alert(1)>">')
display.html("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>")
display.html("<template><script>alert(1)</script></template><textarea><script>alert(1)</script></textarea>")
display.html('<a href="data:text/html,<script>alert(1)</script>">d</a><img src="data:image/svg+xml,<svg onload=alert(1)>">')
return 1
