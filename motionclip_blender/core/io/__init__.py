"""Motion files: BVH (any skeleton), ASF/AMC, npz; ``formats.read_any``/``write_any`` by extension; the
limits for untrusted files; the reference-pose finder shared by the importer and the rig binder."""
