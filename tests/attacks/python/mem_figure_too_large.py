# attack: a figure too large to draw, left open (every later cell drew it again and failed)
# expect: error ModuleNotFoundError /matplotlib/
# next: 1 + 1 => 2
import matplotlib.pyplot as plt
plt.figure(figsize=(300, 300), dpi=100)
plt.plot([1, 2])
