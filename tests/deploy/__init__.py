"""Tests of deploy/: the image, docker-compose.yml and the Kubernetes manifests."""
