// Placeholder until the conflicts panel lands: the editor calls mount(ctx) after the first welcome.
export function mount() {}
