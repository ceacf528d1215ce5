"""Job history: the job index the collector fills from every site with a monitoring account, read by the
history pages, the activity charts, the running-long baselines and (when fresh) the fleet view."""
