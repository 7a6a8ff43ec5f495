//! The wgpu device: any GPU through WGSL (Vulkan first; Metal and DX12 as
//! wgpu gives them). Shaders in `shaders/*.wgsl` are embedded with
//! `include_str!`, compiled into pipelines once per (file, entry point) and
//! cached; a batch of ops records into one command encoder and is submitted
//! once; data comes back only when asked for.

pub mod backend;
pub mod ops;
pub mod params;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};

/// Every shader, by file name.
pub const SHADERS: &[(&str, &str)] = &[
    ("attention.wgsl", include_str!("../../../../shaders/attention.wgsl")),
    ("cast.wgsl", include_str!("../../../../shaders/cast.wgsl")),
    ("elementwise.wgsl", include_str!("../../../../shaders/elementwise.wgsl")),
    ("gemm.wgsl", include_str!("../../../../shaders/gemm.wgsl")),
    ("layout.wgsl", include_str!("../../../../shaders/layout.wgsl")),
    ("norm.wgsl", include_str!("../../../../shaders/norm.wgsl")),
    ("reduce.wgsl", include_str!("../../../../shaders/reduce.wgsl")),
    ("rope.wgsl", include_str!("../../../../shaders/rope.wgsl")),
];

/// Declarations every shader shares, put in front of each (after its
/// `enable` directives, which WGSL wants first).
pub const COMMON: &str = include_str!("../../../../shaders/common.wgsl");

/// The WGSL a pipeline compiles for shader source `src`: common.wgsl
/// prepended, then specialised for `spec`.
pub fn source(src: &str, spec: Spec) -> String {
    let enables: usize = src.lines().take_while(|l| l.starts_with("enable ")).map(|l| l.len() + 1).sum();
    let (head, body) = src.split_at(enables.min(src.len()));
    specialise(&format!("{head}{COMMON}\n{body}"), spec)
}

/// A shader's specialisation: its storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Spec {
    F32,
    /// `enable f16;` and `alias T = f16;` (shaders written with `alias T = f32;`).
    F16,
}

/// The WGSL source of `file` specialised for `spec`.
pub fn specialise(src: &str, spec: Spec) -> String {
    match spec {
        Spec::F32 => src.to_string(),
        Spec::F16 => format!("enable f16;\n{}", src.replace("alias T = f32;", "alias T = f16;")),
    }
}

/// (shader file, entry point, specialisation).
type PipelineKey = (&'static str, &'static str, Spec);

pub struct WgpuDevice {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// Commands recorded since the last submit.
    pending: Mutex<Option<wgpu::CommandEncoder>>,
}

fn err(what: impl std::fmt::Display) -> Error {
    Error::Device(format!("wgpu: {what}"))
}

impl WgpuDevice {
    /// The adapter named by `IRIS_WGPU_ADAPTER` (a substring of its name), or
    /// the first high-performance one; a software one (lavapipe) only when
    /// nothing else exists.
    pub fn open() -> Result<Arc<WgpuDevice>> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let wanted = std::env::var("IRIS_WGPU_ADAPTER").ok();
        let rank = |a: &wgpu::Adapter| {
            let i = a.get_info();
            match i.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu | wgpu::DeviceType::Other => 2,
                wgpu::DeviceType::Cpu => 3,
            }
        };
        let adapter = match &wanted {
            Some(w) => adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&w.to_lowercase())),
            None => adapters.into_iter().min_by_key(rank),
        }
        .ok_or_else(|| match &wanted {
            Some(w) => err(format!("no adapter named like `{w}` (IRIS_WGPU_ADAPTER)")),
            None => err("no adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers)"),
        })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("iris"),
            // f16 storage where the adapter has it (the f16 GEMM uses it).
            required_features: adapter.features() & wgpu::Features::SHADER_F16,
            required_limits: wgpu::Limits {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage.min(8),
                ..wgpu::Limits::default()
            },
            ..Default::default()
        }))
        .map_err(|e| err(format!("device on {}: {e}", info.name)))?;
        Ok(Arc::new(WgpuDevice { device, queue, info, pipelines: Mutex::default(), pending: Mutex::default() }))
    }

    pub fn name(&self) -> String {
        let f16 = if self.has_f16() { ", shader-f16" } else { "" };
        format!("{} ({:?}{f16})", self.info.name, self.info.backend)
    }

    /// Whether shaders may store f16 (`enable f16;`).
    pub fn has_f16(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F16)
    }

    /// The pipeline of `entry` in shader `file` specialised for `spec`, compiled once.
    pub fn pipeline(&self, file: &'static str, entry: &'static str, spec: Spec) -> Result<Arc<wgpu::ComputePipeline>> {
        let mut cache = self.pipelines.lock().expect("pipeline cache lock");
        if let Some(p) = cache.get(&(file, entry, spec)) {
            return Ok(p.clone());
        }
        if (spec == Spec::F16 || file == "cast.wgsl") && !self.has_f16() {
            return Err(err(format!("{file}: the adapter has no SHADER_F16")));
        }
        let src = SHADERS.iter().find(|(n, _)| *n == file).ok_or_else(|| err(format!("no shader {file}")))?.1;
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(file),
            source: wgpu::ShaderSource::Wgsl(source(src, spec).into()),
        });
        let p = Arc::new(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        }));
        cache.insert((file, entry, spec), p.clone());
        Ok(p)
    }

    /// A storage buffer holding `data`.
    pub fn upload<T: bytemuck::Pod>(&self, data: &[T]) -> wgpu::Buffer {
        // Buffers are whole 4-byte words, and never empty.
        let mut bytes: Vec<u8> = bytemuck::cast_slice(data).to_vec();
        bytes.resize(bytes.len().max(4).div_ceil(4) * 4, 0);
        let contents = &bytes[..];
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// An uninitialised storage buffer of `bytes` (rounded up to 4).
    pub fn buffer(&self, bytes: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: (bytes.max(4).div_ceil(4) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Records one dispatch of `entry` with each buffer at its binding and a
    /// uniform block of `params` at binding `uniform`, into the pending
    /// encoder. A validation error comes back as an error, not a panic.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        file: &'static str,
        entry: &'static str,
        spec: Spec,
        buffers: &[(u32, &wgpu::Buffer)],
        params: &[u8],
        uniform: u32,
        groups: (u32, u32, u32),
    ) -> Result<()> {
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        if groups.0 > max || groups.1 > max || groups.2 > max {
            return Err(err(format!("{entry}: {groups:?} workgroups exceed the limit of {max} per dimension")));
        }
        if groups.0 == 0 || groups.1 == 0 || groups.2 == 0 {
            return Ok(());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self.pipeline(file, entry, spec)?;
        let mut block = params.to_vec();
        block.resize(params.len().div_ceil(16) * 16, 0);
        let uniform_buf = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &block,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: *i, resource: b.as_entire_binding() })
            .collect();
        entries.push(wgpu::BindGroupEntry { binding: uniform, resource: uniform_buf.as_entire_binding() });
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        {
            let mut pending = self.pending.lock().expect("encoder lock");
            let enc = pending.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
        match pollster::block_on(scope.pop()) {
            Some(e) => {
                // The encoder holds the invalid pass: drop it so later work is not poisoned.
                self.pending.lock().expect("encoder lock").take();
                Err(err(format!("{file}: {entry}: {e}")))
            }
            None => Ok(()),
        }
    }

    /// Submits what was recorded.
    pub fn flush(&self) {
        if let Some(enc) = self.pending.lock().expect("encoder lock").take() {
            self.queue.submit([enc.finish()]);
        }
    }

    /// Submits what was recorded and waits until the device has run it.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(err)?;
        Ok(())
    }

    /// The first `n` values of `buf` as `T`, after every recorded op ran.
    pub fn download<T: bytemuck::Pod>(&self, buf: &wgpu::Buffer, n: usize) -> Result<Vec<T>> {
        let bytes = (n * std::mem::size_of::<T>()).div_ceil(4) * 4;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut pending = self.pending.lock().expect("encoder lock");
            let mut enc = pending.take().unwrap_or_else(|| self.device.create_command_encoder(&Default::default()));
            if bytes > 0 {
                enc.copy_buffer_to_buffer(buf, 0, &staging, 0, bytes as u64);
            }
            self.queue.submit([enc.finish()]);
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!("read-back: {e}")));
        }
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(err)?;
        rx.recv().map_err(err)?.map_err(err)?;
        let data = slice.get_mapped_range().map_err(|e| err(format!("{e:?}")))?;
        let out = bytemuck::cast_slice::<u8, T>(&data[..n * std::mem::size_of::<T>()]).to_vec();
        drop(data);
        staging.unmap();
        Ok(out)
    }
}
