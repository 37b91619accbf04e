"""Scale-out on a Ray cluster: index builds with Ray Data (:mod:`citeqa.cluster.build`); the REST API on Ray
Serve replicas is an edge, :mod:`citeqa.app.rayserve`. Optional: ``pip install 'citeqa[ray]'``; nothing else in
citeqa imports Ray."""
