"""Departments that answer back (职能部门处置反馈): 转办单 reply links and agencies' replies."""
