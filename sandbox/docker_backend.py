"""Sessions as Docker containers named for their thread, off every network."""
import docker
from docker.errors import APIError, NotFound

from sandbox.backend import RUN_DIR, SANDBOX_UID, Limits, Place, kernel_command

LABEL = "treadle.sandbox"


class DockerBackend:
    name = "docker"

    def __init__(self, base_url: str | None, image: str, scope: str) -> None:
        # A fixed API version (Debian's engine speaks 1.41; newer ones still do) saves a
        # version probe per process and lets a missing engine show up in available().
        self.client = docker.DockerClient(base_url=base_url or "unix:///var/run/docker.sock",
                                          version="1.41", timeout=60)
        self.image = image
        self.scope = scope

    def available(self) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        try:
            self.client.ping()
        except Exception as error:  # any failure means no usable engine
            return f"the Docker engine does not answer: {error}"
        try:
            self.client.images.get(self.image)
        except NotFound:
            return f"the image {self.image} is missing (run deploy/sandbox/prepare.sh)"
        return None

    def start(self, place: Place, limits: Limits) -> None:
        self.client.containers.run(
            self.image, kernel_command(), name=place.name, detach=True,
            labels={LABEL: self.scope}, environment={}, working_dir="/mnt/data",
            user=f"{SANDBOX_UID}:{SANDBOX_UID}", network_mode="none", read_only=True,
            cap_drop=["ALL"], security_opt=["no-new-privileges"], ipc_mode="private",
            mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9), pids_limit=limits.pids,
            tmpfs={"/tmp": f"size={limits.tmp_mb}m,mode=1777",
                   "/mnt/data": f"size={limits.data_mb}m,uid={SANDBOX_UID},"
                                f"gid={SANDBOX_UID},mode=0700"},
            volumes={str(place.run_dir): {"bind": RUN_DIR, "mode": "rw"}},
        )

    def stop(self, place: Place) -> None:
        try:
            self.client.api.remove_container(place.name, force=True)
        except NotFound:
            pass
        except APIError as error:
            # Removal already under way (another worker, or the reaper).
            if error.status_code != 409:
                raise

    def running(self) -> set[str]:
        containers = self.client.api.containers(
            all=True, filters={"label": f"{LABEL}={self.scope}"})
        return {c["Names"][0].lstrip("/") for c in containers}

    def memory_bytes(self, place: Place) -> int | None:
        try:
            stats = self.client.api.stats(place.name, stream=False)
        except NotFound:
            return None
        usage = stats.get("memory_stats", {}).get("usage")
        return int(usage) if usage is not None else None
