"""MotionCLIP core: skeleton, rotations, kinematics, model, encoders, data, training and latent
operations. Never imports ``bpy``; modules use relative imports so the package also works inside an
installed Blender extension (``bl_ext.<repo>.motionclip_blender``)."""
