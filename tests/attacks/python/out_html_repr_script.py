# attack: _repr_html_, IPython.display.HTML and a mimebundle whose HTML/Markdown/LaTeX would run script in a live JupyterLab page
# expect: ok
from IPython.display import display, HTML, Markdown, Latex
class Widget:
    def _repr_html_(self):
        return "<script>fetch('/api/contents/pwned.txt',{method:'PUT'})</script><table><tr><td>t</td></tr></table>"
class Bundle:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": "<img src=x onerror=alert(1)>", "text/markdown": "<img src=x onerror=alert(1)>", "text/latex": "$\\href{javascript:alert(1)}{x}$"}
display(Widget())
display(Bundle())
display(HTML('<a href="jav&#x61;script:alert(1)">a</a><svg><script>alert(1)</script></svg><iframe srcdoc="<script>alert(1)</script>">'))
display(Markdown("[x](javascript:alert(1)) &#60;script&#62;alert(1)&#60;/script&#62; <script>alert(1)</script>"))
Widget()
