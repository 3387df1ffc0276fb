"""One package per tab: ``analysis`` (settings and numbers, no Panel), ``figures`` (results to
bokeh / HoloViews / HTML) and ``view`` (a thin Viewer laying them out).

The table of tabs (title, URL prefix, analysis and view) is :data:`dashboard.state.TABS`.
"""
