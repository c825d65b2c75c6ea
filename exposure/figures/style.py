"""The figures' look: the Okabe-Ito palette, figure objects, PNG output, and display in notebooks.

The Okabe-Ito palette can be told apart with any common colour-vision deficiency; figures never
rely on colour alone (lines and points also carry labels or markers). Verdict colours and markers
are exposure.verdicts'. Figures are matplotlib `Figure` objects, not pyplot's: `register_ipython`
makes a notebook show one returned by a cell (exposure.figures calls it when imported).
"""

from __future__ import annotations

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any common colour-vision type.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
YOU = OKABE_ITO["blue"]
OTHERS = "#BBBBBB"
DISTANCE_LABEL = "distance between faces (0 = identical; lower = more alike)"


def distance_label() -> str:
    """DISTANCE_LABEL in the language in use."""
    from exposure.i18n import _

    return _("distance between faces (0 = identical; lower = more alike)")


def _figure(width: float = 8.0, height: float = 4.5, nrows: int = 1, ncols: int = 1, **kw):
    from matplotlib.figure import Figure

    from exposure.fonts import use_cjk_in_figures

    use_cjk_in_figures()  # Chinese labels drawn with a CJK font, not as empty boxes
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes


def show(fig) -> None:
    """Display a Figure in a notebook, as a PNG."""
    from IPython.display import Image, display

    display(Image(to_png(fig)))


def to_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for an ipywidgets Image, or a file)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def register_ipython() -> None:
    """In a notebook, show a Figure returned by a cell as a PNG (these figures are not pyplot's)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure

    ip.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: to_png(fig))
