"""Classical estimators to compare against: the Huber-bootstrap baseline (Approach 3).

They return DataTrees of the same layout as a Bayesian fit's.
"""
