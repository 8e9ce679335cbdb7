//! Announcement floods: routes, watchers and the origin lock.
