"""On-demand feature functions; every module here is loaded by ``featurestream.ondemand.load_udfs``."""
