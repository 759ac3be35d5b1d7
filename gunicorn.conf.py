# gunicorn reads this file from the current folder: the settings live in the package
# (rubric_app/gunicorn_conf.py) so that an installed wheel has them too.
from rubric_app.gunicorn_conf import *  # noqa: F401,F403
