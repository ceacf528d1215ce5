"""The portal scaled out: two gunicorn processes sharing one PostgreSQL database and one Redis."""
