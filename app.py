"""Network Explorer: `panel serve app.py` (or `python app.py`)."""

import panel as pn

from dashboard.app import create_app

pn.extension(sizing_mode="stretch_width", notifications=True, nthreads=4)

if pn.state.served:
    create_app().servable()

if __name__ == "__main__":
    pn.serve(create_app, port=5006, show=False, title="Network Explorer")
