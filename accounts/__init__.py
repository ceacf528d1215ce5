"""Who may do what: the portal's roles and permissions, the checks views and the API make, the permission cache,
and single sign-on. Accounts are Django's own users; roles are Django groups made by the jobs and policies
migrations."""
